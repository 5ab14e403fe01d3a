/** The 40 CelebA attributes in the order of list_attr_celeba.txt, which LCNet_40's outputs follow. */
export const CELEBA_ATTRIBUTES = [
  '5_o_Clock_Shadow', 'Arched_Eyebrows', 'Attractive', 'Bags_Under_Eyes', 'Bald', 'Bangs', 'Big_Lips', 'Big_Nose',
  'Black_Hair', 'Blond_Hair', 'Blurry', 'Brown_Hair', 'Bushy_Eyebrows', 'Chubby', 'Double_Chin', 'Eyeglasses',
  'Goatee', 'Gray_Hair', 'Heavy_Makeup', 'High_Cheekbones', 'Male', 'Mouth_Slightly_Open', 'Mustache',
  'Narrow_Eyes', 'No_Beard', 'Oval_Face', 'Pale_Skin', 'Pointy_Nose', 'Receding_Hairline', 'Rosy_Cheeks',
  'Sideburns', 'Smiling', 'Straight_Hair', 'Wavy_Hair', 'Wearing_Earrings', 'Wearing_Hat', 'Wearing_Lipstick',
  'Wearing_Necklace', 'Wearing_Necktie', 'Young',
];

/** How an attribute reads in the editor: 'Blond_Hair' -> 'Blond Hair'. */
export function attributeLabel(attribute: string): string {
  return attribute.replace(/_/g, ' ');
}
